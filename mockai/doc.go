// Package mockai is an OpenAI-compatible streaming mock LLM, wire-identical to the
// Bun mock of mesh's multi-pod harness (tests/multi-pod/mock-ai/server.ts) and a
// superset of it.
//
// Routes:
//
//	GET  /health               -> "ok"
//	GET  /v1/models            -> {"object":"list","data":[{"id":"mock-model","object":"model","created":0,"owned_by":"mock"}]}
//	POST /v1/chat/completions  -> a stream of SSE frames when "stream" is true, else a chat.completion
//	anything else              -> 404 with an OpenAI error body; a wrong method -> 405 with Allow
//
// A stream sends "data: <json>\n\n" frames: the role frame at once, content frames
// "chunk-1 " … "chunk-N " (content chunk i due at start + i×delay, so chunks never
// drift), the finish frame (delta {}, finish_reason "stop"), the usage frame when
// stream_options.include_usage is true, and "data: [DONE]\n\n". Every JSON frame is
//
//	{"id":"chatcmpl-<uuid>","object":"chat.completion.chunk","created":<unix s>,"model":"mock-model","choices":[{"index":0,"delta":…,"finish_reason":null|"stop"}]}
//
// Hints come from the text of the last message whose role is "user" (string content,
// or the text parts of a parts array joined with spaces); see ParseHints for the
// grammar: slow:NxMS, many:N, and the provider faults fail:CODE, cut:K, stall:K[xMS].
//
// Errors are OpenAI error bodies, {"error":{"message","type","param","code"}}:
// malformed JSON, no messages or a hint over its bound -> 400, a body over
// Options.MaxBodyBytes -> 413, a chat completion during shutdown -> 503.
//
// Over HTTP/1.1 a stream takes its connection over once the request is read (see
// Options.DisableHijack), so an open stream holds no goroutine between chunks, only a
// timer and a goroutine blocked reading the connection, which ends the stream as soon
// as the client leaves.
package mockai
