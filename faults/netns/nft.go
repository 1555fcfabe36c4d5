package netns

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Table is the name of chaosd's own nftables table (family inet) in a container's
// network namespace; chaosd never touches any other table.
const Table = "chaosd"

// conn opens an nftables connection on pid's namespace, refusing chaosd's own.
func conn(pid int) (*nftables.Conn, func(), error) {
	if host, err := IsHost(pid); err != nil {
		return nil, nil, err
	} else if host {
		return nil, nil, ErrHostNamespace
	}
	fd, err := open(pid)
	if err != nil {
		return nil, nil, err
	}
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("nftables: %w", err)
	}
	return c, func() { unix.Close(fd) }, nil
}

// Cut replaces chaosd's table in pid's namespace with one that drops every packet
// from and to addrs (input and output chains). The table is replaced as a whole in
// one transaction, so cutting twice leaves one set of rules.
func Cut(pid int, addrs []netip.Addr) error {
	if len(addrs) == 0 {
		return errors.New("nftables: no addresses to cut off")
	}
	return replaceTable(pid, func(c *nftables.Conn, t *nftables.Table, in, out *nftables.Chain) {
		for _, a := range addrs {
			c.AddRule(&nftables.Rule{Table: t, Chain: in, Exprs: dropAddr(a, true)})
			c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: dropAddr(a, false)})
		}
	})
}

// replaceTable replaces chaosd's table in pid's namespace, in one transaction, with
// one whose input and output chains (policy accept) fill writes.
func replaceTable(pid int, fill func(c *nftables.Conn, t *nftables.Table, in, out *nftables.Chain)) error {
	c, done, err := conn(pid)
	if err != nil {
		return err
	}
	defer done()
	t := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	c.AddTable(t) // so that the delete below cannot fail on a missing table
	c.DelTable(t)
	c.AddTable(t)
	in := c.AddChain(baseChain(t, "input", nftables.ChainHookInput))
	out := c.AddChain(baseChain(t, "output", nftables.ChainHookOutput))
	fill(c, t, in, out)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: replace table %s: %w", Table, err)
	}
	return nil
}

// CutAllBut replaces chaosd's table in pid's namespace with one that drops every
// packet in and out except on the loopback interface and from and to keep (the
// node, whose kubelet probes the pod: cut off from it, the pod would be restarted).
func CutAllBut(pid int, keep []netip.Addr) error {
	return replaceTable(pid, func(c *nftables.Conn, t *nftables.Table, in, out *nftables.Chain) {
		for _, ch := range []struct {
			chain  *nftables.Chain
			iface  expr.MetaKey
			source bool
		}{{in, expr.MetaKeyIIFNAME, true}, {out, expr.MetaKeyOIFNAME, false}} {
			c.AddRule(&nftables.Rule{Table: t, Chain: ch.chain, Exprs: []expr.Any{
				&expr.Meta{Key: ch.iface, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname("lo")},
				&expr.Verdict{Kind: expr.VerdictAccept},
			}})
			for _, a := range keep {
				ex := dropAddr(a, ch.source)                                                   // match, counter, drop
				ex = append(ex[:len(ex)-2:len(ex)-2], &expr.Verdict{Kind: expr.VerdictAccept}) // match, accept
				c.AddRule(&nftables.Rule{Table: t, Chain: ch.chain, Exprs: ex})
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: ch.chain, Exprs: []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}}})
		}
	})
}

// ifname is an interface name as nftables compares it (IFNAMSIZ, NUL-padded).
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

// Uncut deletes chaosd's table from pid's namespace; a missing table is no error.
func Uncut(pid int) error {
	c, done, err := conn(pid)
	if err != nil {
		return err
	}
	defer done()
	t := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: delete table %s: %w", Table, err)
	}
	return nil
}

// Rules reports whether chaosd's table exists in pid's namespace and how many rules
// its input and output chains hold.
func Rules(pid int) (present bool, rules int, err error) {
	c, done, err := conn(pid)
	if err != nil {
		return false, 0, err
	}
	defer done()
	t, err := c.ListTableOfFamily(Table, nftables.TableFamilyINet)
	if errors.Is(err, unix.ENOENT) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("nftables: list table %s: %w", Table, err)
	}
	for _, name := range []string{"input", "output"} {
		rs, err := c.GetRules(t, &nftables.Chain{Name: name, Table: t})
		if err != nil {
			return true, rules, fmt.Errorf("nftables: list rules of %s: %w", name, err)
		}
		rules += len(rs)
	}
	return true, rules, nil
}

// Drops counts the packets chaosd's rules dropped in pid's namespace, by chain and
// address: "input 172.20.0.5" (from that peer), "output 172.20.0.5" (to it); a cut
// from everything counts as "input all" and "output all".
func Drops(pid int) (map[string]uint64, error) {
	c, done, err := conn(pid)
	if err != nil {
		return nil, err
	}
	defer done()
	t := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	out := map[string]uint64{}
	for _, chain := range []string{"input", "output"} {
		rs, err := c.GetRules(t, &nftables.Chain{Name: chain, Table: t})
		if err != nil {
			return nil, fmt.Errorf("nftables: list rules of %s: %w", chain, err)
		}
		for _, r := range rs {
			if a, n, ok := dropCount(r); ok {
				out[chain+" "+a.String()] += n
			} else if n, ok := dropAll(r); ok {
				out[chain+" all"] += n
			}
		}
	}
	return out, nil
}

// dropCount reads the address and the counter of one of chaosd's rules.
func dropCount(r *nftables.Rule) (netip.Addr, uint64, bool) {
	var a netip.Addr
	var n uint64
	found := false
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case *expr.Cmp:
			if x, ok := netip.AddrFromSlice(e.Data); ok && (len(e.Data) == 4 || len(e.Data) == 16) {
				a = x
			}
		case *expr.Counter:
			n, found = e.Packets, true
		}
	}
	return a, n, found && a.IsValid()
}

// dropAll reads the counter of a rule that drops whatever reached it (CutAllBut's
// last).
func dropAll(r *nftables.Rule) (uint64, bool) {
	if len(r.Exprs) != 2 {
		return 0, false
	}
	c, ok := r.Exprs[0].(*expr.Counter)
	if v, isV := r.Exprs[1].(*expr.Verdict); !ok || !isV || v.Kind != expr.VerdictDrop {
		return 0, false
	}
	return c.Packets, true
}

func baseChain(t *nftables.Table, name string, hook *nftables.ChainHook) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name: name, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: hook, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	}
}

// dropAddr matches a packet from (source) or to a, by address family, and drops it.
func dropAddr(a netip.Addr, source bool) []expr.Any {
	proto, off := byte(unix.NFPROTO_IPV4), uint32(16) // IPv4 daddr
	if a.Is6() && !a.Is4In6() {
		proto, off = unix.NFPROTO_IPV6, 24 // IPv6 daddr
	}
	a = a.Unmap()
	if source {
		off -= uint32(a.BitLen() / 8) // saddr sits just before daddr in both headers
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(a.BitLen() / 8)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: a.AsSlice()},
		&expr.Counter{}, // counts the packets it drops: evidence of real traffic cut
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}
