"""The shell's own panels; each module has a ``create(ctx)`` factory like any plugin panel."""
