#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, assembled with no registry:
# etcd (Debian's etcd-server), kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet and kube-proxy built from the k8s.io/kubernetes module (deploy/k8s/build),
# containerd and runc from Debian with the CNI bridge plugin
# (containernetworking-plugins), kube-router's network-policy controller for
# NetworkPolicy, and the images imported from the local Docker engine.
#
#   deploy/k8s/cluster.sh up      boot it (building what is missing), deploy the testbed's
#                                 Helm chart, wait until its pods are ready   (make k8s-up)
#   deploy/k8s/cluster.sh down    delete every pod, stop every component, remove the state
#                                 and the network it made                      (make k8s-down)
#   deploy/k8s/cluster.sh env     print KUBECONFIG and the testbed's namespace, for eval
#   deploy/k8s/cluster.sh status  the components' processes and the nodes and pods
#   deploy/k8s/cluster.sh build   only build the binaries and images
#
# Needs root (it starts a kubelet, a container runtime, and makes a bridge, a dummy
# interface and iptables rules). Every address it uses is its own: the node is
# 10.201.0.1 on chaosd-k8s0 (a dummy interface, or a bridge with no port), pods 10.244.0.0/24 on the bridge
# chaosd-cni0, Services 10.96.0.0/24; etcd listens on 127.0.0.1:12379. The Docker
# engine and its containerd are left alone: this cluster runs a containerd of its own.
#
# Knobs: CHAOSD_K8S_STATE (default /var/lib/chaosd-k8s), CHAOSD_K8S_BIN (the built
# binaries, default ~/.cache/chaosd/k8s/<version>), CHAOSD_K8S_TESTBED=0 (boot without
# deploying the testbed), TESTBED_BUGS (defect switches of the testbed's pods).
set -euo pipefail
PROG=k8s-cluster
K8S_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT_DIR=$(cd "$K8S_DIR/../.." && pwd)

K8S_VERSION=v1.34.4
KUBE_ROUTER_VERSION=v2.1.0
HELM_VERSION=v4.3.2
STATE=${CHAOSD_K8S_STATE:-/var/lib/chaosd-k8s}
RUN=/run/chaosd-k8s
BIN=${CHAOSD_K8S_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/chaosd/k8s/$K8S_VERSION}
PKI=$STATE/pki
LOGS=$STATE/log
NODE=chaosd-node
NODE_IP=10.201.0.1
NODE_IF=chaosd-k8s0
CLUSTER_CIDR=10.244.0.0/16
POD_CIDR=10.244.0.0/24
SVC_CIDR=10.96.0.0/24
SVC_API_IP=10.96.0.1
# The testbed's Services at fixed addresses, so that a target profile can name them.
SVC_POSTGRES_IP=10.96.0.20
SVC_NATS_IP=10.96.0.21
SVC_MOCKAI_IP=10.96.0.22
BRIDGE=chaosd-cni0
ETCD_PORT=12379
API=https://$NODE_IP:6443
KUBECONFIG_ADMIN=$STATE/admin.kubeconfig
CONTAINERD_SOCK=$RUN/containerd/containerd.sock
CNI_BIN=${CHAOSD_CNI_BIN:-/usr/lib/cni}
TESTBED_NS=${CHAOSD_K8S_NAMESPACE:-chaosd-testbed}
PAUSE_IMAGE=chaosd.local/pause:3.10
IMAGES=("${CHAOSD_IMAGE:-chaosd:dev}" "${POSTGRES_IMAGE:-postgres:15-alpine}" "${NATS_IMAGE:-nats:2.10-alpine}" "$PAUSE_IMAGE")

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}
now() { date +%s; }
need_root() { [ "$(id -u)" = 0 ] || die "run as root: the cluster needs a kubelet, a container runtime, a bridge and iptables rules"; }
kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# wait_for WHAT SECONDS CMD...: run CMD until it succeeds, at most SECONDS.
wait_for() {
	local what=$1 secs=$2 t0
	shift 2
	t0=$(now)
	until "$@" >/dev/null 2>&1; do
		if [ $(($(now) - t0)) -ge "$secs" ]; then
			die "$what: not within ${secs}s (logs in $LOGS)"
		fi
		sleep 0.5
	done
}

# --- binaries -------------------------------------------------------------------

deps() {
	local missing=()
	command -v etcd >/dev/null || missing+=(etcd-server)
	command -v containerd >/dev/null || missing+=(containerd)
	command -v runc >/dev/null || missing+=(runc)
	[ -x "$CNI_BIN/bridge" ] || missing+=(containernetworking-plugins)
	command -v ipset >/dev/null || missing+=(ipset)
	command -v conntrack >/dev/null || missing+=(conntrack)
	command -v iptables >/dev/null || missing+=(iptables)
	command -v openssl >/dev/null || missing+=(openssl)
	command -v ip >/dev/null || missing+=(iproute2)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]} (Debian packages)"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# build_bins: the Kubernetes components, kubectl, kube-router and helm, each built once
# into $BIN (static, CGO_ENABLED=0), with the Go module proxy as the only source.
build_bins() {
	mkdir -p "$BIN"
	local want=() c t0
	for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
		[ -x "$BIN/$c" ] || want+=("k8s.io/kubernetes/cmd/$c")
	done
	if [ ${#want[@]} -gt 0 ]; then
		t0=$(now)
		log "building ${want[*]##*/} $K8S_VERSION (first time: about 15 minutes on 2 cores)"
		local minor=${K8S_VERSION#v1.}
		minor=${minor%%.*}
		(cd "$K8S_DIR/build" && CGO_ENABLED=0 go build -trimpath -o "$BIN/" -ldflags "-s -w \
			-X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
			-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
			-X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION" "${want[@]}")
		log "built in $(($(now) - t0))s"
	fi
	if [ ! -x "$BIN/kube-router" ]; then
		t0=$(now)
		log "building kube-router $KUBE_ROUTER_VERSION (its network-policy controller enforces NetworkPolicy)"
		GOBIN=$BIN CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
		log "built in $(($(now) - t0))s"
	fi
	if [ ! -x "$BIN/helm" ]; then
		t0=$(now)
		log "building helm $HELM_VERSION"
		GOBIN=$BIN CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
		log "built in $(($(now) - t0))s"
	fi
}

# build_images: the pause image (FROM scratch, deploy/k8s/pause) and the testbed's
# images (deploy/build-images.sh), all in the local Docker engine.
build_images() {
	"$ROOT_DIR/deploy/build-images.sh" >&2
	if ! docker image inspect "$PAUSE_IMAGE" >/dev/null 2>&1; then
		local d
		d=$(mktemp -d)
		(cd "$ROOT_DIR" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$d/pause" ./deploy/k8s/pause)
		printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$d/Dockerfile"
		docker build -q -t "$PAUSE_IMAGE" "$d" >"$d/build.log" 2>&1 || { cat "$d/build.log" >&2; die "docker build of $PAUSE_IMAGE failed"; }
		rm -rf "$d"
		log "built $PAUSE_IMAGE"
	fi
}

# --- PKI --------------------------------------------------------------------------

# cert NAME CN O [SAN]: a key and a certificate signed by the cluster's CA.
cert() {
	local name=$1 cn=$2 o=$3 san=${4:-} subj
	[ -s "$PKI/$name.crt" ] && return
	subj="/CN=$cn"
	[ -n "$o" ] && subj="/O=$o$subj"
	openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
	local ext
	ext=$(mktemp)
	{
		echo "basicConstraints=CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=serverAuth,clientAuth"
		[ -n "$san" ] && echo "subjectAltName=$san"
	} >"$ext"
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 365 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
	rm -f "$ext" "$PKI/$name.csr"
}

kubeconfig() { # kubeconfig FILE CERTNAME
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: chaosd
  cluster:
    certificate-authority: $PKI/ca.crt
    server: $API
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: chaosd
  context: {cluster: chaosd, user: $2}
current-context: chaosd
EOF
}

pki() {
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	if [ ! -s "$PKI/ca.crt" ]; then
		openssl req -x509 -new -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -subj "/CN=chaosd-k8s-ca" \
			-days 365 -sha256 -out "$PKI/ca.crt" 2>/dev/null
	fi
	cert apiserver kube-apiserver "" "IP:$NODE_IP,IP:$SVC_API_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	cert admin kubernetes-admin system:masters
	cert controller-manager system:kube-controller-manager ""
	cert scheduler system:kube-scheduler ""
	cert kubelet "system:node:$NODE" system:nodes "IP:$NODE_IP,DNS:$NODE"
	cert kube-proxy system:kube-proxy ""
	cert apiserver-kubelet kube-apiserver-kubelet-client system:masters
	if [ ! -s "$PKI/sa.key" ]; then
		openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
		openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	fi
	kubeconfig "$KUBECONFIG_ADMIN" admin
	kubeconfig "$STATE/controller-manager.kubeconfig" controller-manager
	kubeconfig "$STATE/scheduler.kubeconfig" scheduler
	kubeconfig "$STATE/kubelet.kubeconfig" kubelet
	kubeconfig "$STATE/kube-proxy.kubeconfig" kube-proxy
	# kube-router's network-policy controller reads pods, namespaces and policies and
	# writes nothing through the API: the admin identity is this test cluster's
	# shortcut for its ClusterRole.
	kubeconfig "$STATE/kube-router.kubeconfig" admin
}

# --- network ----------------------------------------------------------------------

network() {
	modprobe br_netfilter 2>/dev/null || true
	modprobe overlay 2>/dev/null || true
	sysctl -qw net.ipv4.ip_forward=1
	sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || log "warning: br_netfilter is missing: NetworkPolicy and Services between pods on the bridge will not work"
	if ! ip link show "$NODE_IF" >/dev/null 2>&1; then
		ip link add "$NODE_IF" type dummy 2>/dev/null || ip link add "$NODE_IF" type bridge # a bridge with no port where the kernel lacks dummy
	fi
	ip addr replace "$NODE_IP/32" dev "$NODE_IF"
	ip link set "$NODE_IF" up
	mkdir -p "$STATE/cni/net.d"
	# Pods on one bridge; the firewall plugin lets their traffic through the FORWARD
	# chain that Docker sets to DROP; portmap for hostPort. No masquerade: pods talk to
	# each other and to the node, never beyond this machine.
	cat >"$STATE/cni/net.d/10-chaosd.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "chaosd",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$STATE/cni/ipam"}},
    {"type": "firewall", "backend": "iptables"},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
}

# --- components -------------------------------------------------------------------

# start NAME CMD...: run CMD in its own session, logging to $LOGS/NAME.log.
start() {
	local name=$1
	shift
	if [ -s "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
		return
	fi
	setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
}

running() { [ -s "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

api_ready() { curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$API/readyz" >/dev/null; }

control_plane() {
	start etcd etcd --name chaosd --data-dir "$STATE/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
		--initial-cluster chaosd=http://127.0.0.1:12380 --quota-backend-bytes 2147483648
	wait_for "etcd" 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health"
	start kube-apiserver "$BIN/kube-apiserver" \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port 6443 \
		--service-cluster-ip-range "$SVC_CIDR" \
		--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
		--client-ca-file "$PKI/ca.crt" \
		--kubelet-client-certificate "$PKI/apiserver-kubelet.crt" --kubelet-client-key "$PKI/apiserver-kubelet.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
		--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
		--kubelet-preferred-address-types InternalIP \
		--allow-privileged=true --profiling=false --v=1
	wait_for "kube-apiserver ready at $API" 90 api_ready
	start kube-controller-manager "$BIN/kube-controller-manager" \
		--kubeconfig "$STATE/controller-manager.kubeconfig" \
		--authentication-kubeconfig "$STATE/controller-manager.kubeconfig" \
		--authorization-kubeconfig "$STATE/controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false \
		--service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
		--cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
		--use-service-account-credentials \
		--allocate-node-cidrs --cluster-cidr "$CLUSTER_CIDR" --node-cidr-mask-size 24 \
		--service-cluster-ip-range "$SVC_CIDR" --profiling=false --v=1
	start kube-scheduler "$BIN/kube-scheduler" \
		--kubeconfig "$STATE/scheduler.kubeconfig" \
		--authentication-kubeconfig "$STATE/scheduler.kubeconfig" \
		--authorization-kubeconfig "$STATE/scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false --profiling=false --v=1
}

runtime() {
	mkdir -p "$RUN/containerd" "$STATE/containerd"
	cat >"$STATE/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd"
state = "$RUN/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$RUN/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  # The oom_score_adj the kubelet asks (-998 for a sandbox) may be below what this
  # process may set (a sandboxed host): never ask below containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$STATE/cni/net.d"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"
EOF
	start containerd containerd --config "$STATE/containerd.toml"
	wait_for "containerd at $CONTAINERD_SOCK" 30 ctr -a "$CONTAINERD_SOCK" version
}

# import_images: each image of the Docker engine into the runtime's k8s.io namespace,
# skipped when the runtime already holds the same image id.
import_images() {
	local img id have
	for img in "${IMAGES[@]}"; do
		docker image inspect "$img" >/dev/null 2>&1 || die "image $img is not in the Docker engine (deploy/build-images.sh builds it)"
		id=$(docker image inspect -f '{{.Id}}' "$img")
		have=$(cat "$STATE/images/${img//[\/:]/_}" 2>/dev/null || true)
		if [ "$have" = "$id" ] && ctr -a "$CONTAINERD_SOCK" -n k8s.io images check "name==$(canonical "$img")" 2>/dev/null | grep -q complete; then
			continue
		fi
		docker save "$img" | ctr -a "$CONTAINERD_SOCK" -n k8s.io images import --all-platforms - >/dev/null
		mkdir -p "$STATE/images"
		echo "$id" >"$STATE/images/${img//[\/:]/_}"
		log "imported $img"
	done
}

# canonical IMAGE: the reference containerd records for a short Docker name.
canonical() {
	local r=$1
	case "${r%%/*}" in
	*.* | *:* | localhost) ;;
	*) case "$r" in */*) r=docker.io/$r ;; *) r=docker.io/library/$r ;; esac ;;
	esac
	echo "$r"
}

node() {
	mkdir -p "$STATE/kubelet"
	# No cluster DNS, and no pod may send a query beyond this machine: a pod's resolver
	# is its own loopback, where nothing answers (the testbed finds its Services by the
	# kubelet's environment variables).
	printf 'nameserver 127.0.0.1\noptions ndots:0 timeout:1 attempts:1\n' >"$STATE/resolv.conf"
	cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
failSwapOn: false
failCgroupV1: false
resolvConf: $STATE/resolv.conf
hairpinMode: hairpin-veth
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
tlsCertFile: $PKI/kubelet.crt
tlsPrivateKeyFile: $PKI/kubelet.key
maxPods: 110
EOF
	start kubelet "$BIN/kubelet" --config "$STATE/kubelet.yaml" --kubeconfig "$STATE/kubelet.kubeconfig" \
		--root-dir "$STATE/kubelet" --hostname-override "$NODE" --node-ip "$NODE_IP" --v=1
	start kube-proxy "$BIN/kube-proxy" --kubeconfig "$STATE/kube-proxy.kubeconfig" --hostname-override "$NODE" \
		--proxy-mode iptables --cluster-cidr "$CLUSTER_CIDR" --conntrack-max-per-core 0 \
		--metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256 --v=1
	wait_for "node $NODE Ready" 120 node_ready
	# kube-router finds its node at start-up: after the kubelet registered it.
	start kube-router "$BIN/kube-router" --kubeconfig "$STATE/kube-router.kubeconfig" --hostname-override "$NODE" \
		--run-router=false --run-service-proxy=false --run-firewall=true --enable-cni=false \
		--metrics-port 0 --health-port 20244 --v=1
	wait_for "kube-router's network-policy controller" 60 curl -sf http://127.0.0.1:20244/healthz
}

node_ready() { kc get node "$NODE" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }

testbed() {
	[ "${CHAOSD_K8S_TESTBED:-1}" = 1 ] || return 0
	local t0
	t0=$(now)
	"$BIN/helm" --kubeconfig "$KUBECONFIG_ADMIN" upgrade --install testbed "$ROOT_DIR/deploy/helm/testbed" \
		--namespace "$TESTBED_NS" --create-namespace \
		--set addressing=env \
		--set services.postgres.clusterIP=$SVC_POSTGRES_IP,services.nats.clusterIP=$SVC_NATS_IP,services.mockai.clusterIP=$SVC_MOCKAI_IP \
		--set-string "testbed.bugs=${TESTBED_BUGS:-}" \
		--wait --timeout 3m >"$LOGS/helm.log" 2>&1 || {
		cat "$LOGS/helm.log" >&2
		kc -n "$TESTBED_NS" get pods -o wide >&2 || true
		die "the testbed's pods are not ready within 3 minutes (kubectl --kubeconfig $KUBECONFIG_ADMIN -n $TESTBED_NS logs POD)"
	}
	log "testbed deployed in $TESTBED_NS in $(($(now) - t0))s: $(kc -n "$TESTBED_NS" get pods -l component=worker -o name | wc -l) worker pods and $(kc -n "$TESTBED_NS" get pods -l component=api -o name | wc -l) API pods ready"
	# chaosd's own chart: its ServiceAccount and least-privilege Role in the namespace.
	"$BIN/helm" --kubeconfig "$KUBECONFIG_ADMIN" upgrade --install chaosd "$ROOT_DIR/deploy/helm/chaosd" \
		--namespace "$TESTBED_NS" --wait --timeout 1m >>"$LOGS/helm.log" 2>&1 || {
		cat "$LOGS/helm.log" >&2
		die "chaosd's chart did not install"
	}
}

# --- commands ---------------------------------------------------------------------

up() {
	need_root
	local t0
	t0=$(now)
	deps
	build_bins
	build_images
	mkdir -p "$STATE" "$RUN" "$LOGS"
	pki
	network
	control_plane
	runtime
	import_images
	node
	log "cluster up in $(($(now) - t0))s: node $NODE Ready, API $API"
	testbed
	log "up in $(($(now) - t0))s; eval \"\$(deploy/k8s/cluster.sh env)\""
}

stop() { # stop NAME [SECONDS]
	local name=$1 secs=${2:-10} pid i
	[ -s "$RUN/$name.pid" ] || return 0
	pid=$(cat "$RUN/$name.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < secs * 10; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$RUN/$name.pid"
}

down() {
	need_root
	# Pods first, through the API, while the kubelet can still tear them down.
	if running kube-apiserver && running kubelet; then
		kc delete namespace "$TESTBED_NS" --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 || true
	fi
	local c
	for c in kube-router kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver; do
		stop "$c"
	done
	# Every container of this runtime, then the runtime and its shims.
	if running containerd; then
		local ids
		ids=$(ctr -a "$CONTAINERD_SOCK" -n k8s.io tasks ls -q 2>/dev/null || true)
		for c in $ids; do ctr -a "$CONTAINERD_SOCK" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true; done
	fi
	stop containerd
	pkill -9 -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" 2>/dev/null || true
	stop etcd
	netfilter_cleanup
	# Mounts left by the kubelet and the runtime, then the state and the network.
	grep -E " ($STATE|$RUN)/" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	ip link del "$BRIDGE" 2>/dev/null || true
	ip link del "$NODE_IF" 2>/dev/null || true
	rm -rf "$RUN"
	if [ "${CHAOSD_K8S_KEEP_STATE:-0}" != 1 ]; then
		rm -rf "$STATE"
	fi
	log "down"
}

# netfilter_cleanup removes what kube-proxy, kube-router, the kubelet and the CNI
# plugins left in iptables and ipset: the rules that jump to their chains (KUBE-*,
# CNI-*), then the chains, then kube-router's sets.
netfilter_cleanup() {
	local t rule chain
	for t in filter nat mangle raw; do
		iptables -t "$t" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j (KUBE-|CNI-)' | grep -vE '^-A (KUBE-|CNI-)' |
			while read -r rule; do
				# shellcheck disable=SC2086 # the rule's words, as iptables -S printed them
				eval "iptables -t $t ${rule/-A/-D}" 2>/dev/null || true
			done || true # grep finds nothing: no rule to delete
		for chain in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ {print $2}'); do
			iptables -t "$t" -F "$chain" 2>/dev/null || true
		done
		for chain in $(iptables -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^(KUBE-|CNI-)/ {print $2}'); do
			iptables -t "$t" -X "$chain" 2>/dev/null || true
		done
	done
	for chain in $(ipset list -n 2>/dev/null | grep -E '^(KUBE-|kube-router-)'); do
		ipset destroy "$chain" 2>/dev/null || true
	done
}

env_cmd() {
	echo "export KUBECONFIG=$KUBECONFIG_ADMIN"
	echo "export CHAOSD_K8S_NAMESPACE=$TESTBED_NS"
	echo "export CHAOSD_K8S_BIN=$BIN"
	echo "export PATH=$BIN:\$PATH"
}

status() {
	local c
	for c in etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy kube-router; do
		if running "$c"; then echo "$c running (pid $(cat "$RUN/$c.pid"))"; else echo "$c not running"; fi
	done
	running kube-apiserver && kc get nodes,pods -A -o wide
}

case "${1:-}" in
up) up ;;
down) down ;;
env) env_cmd ;;
status) status ;;
build)
	deps
	build_bins
	build_images
	;;
*)
	echo "usage: deploy/k8s/cluster.sh up|down|env|status|build" >&2
	exit 2
	;;
esac
