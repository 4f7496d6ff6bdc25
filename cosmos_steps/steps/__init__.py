"""Pipeline steps, each a function called by a rule (and from the shell via `python -m cosmos_steps`)."""
