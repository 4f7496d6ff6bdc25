"""Pipeline steps: functions the rules call (also from the shell: `python -m cosmos_steps`)."""
