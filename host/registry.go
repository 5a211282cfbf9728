package host

// WithSharedRegistry lets an instance of a namespace start, as a sub-orchestration or a
// detached orchestration, an orchestration that its own namespace does not register but the
// default namespace "" does: the host's own registrations (LoadModule), and, on a server
// whose host shares its registry, every upload. Every namespace can then run those: use it
// only when the namespaces trust each other. Within one namespace it is never needed: a
// child resolves in its parent's namespace first. Without it, resolution never leaves an
// instance's namespace. See RATIONALE.md, "Why are namespaces data?".
func WithSharedRegistry() Option { return func(c *config) { c.sharedRegistry = true } }

// SharedRegistry reports whether the host was built WithSharedRegistry: a caller that keeps
// its own per-namespace registry (the HTTP server) then also registers what it stores in the
// default namespace.
func (h *Host) SharedRegistry() bool { return h.cfg.sharedRegistry }
