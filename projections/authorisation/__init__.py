"""Who may do what: the access topic folded into the rights every request checks."""
