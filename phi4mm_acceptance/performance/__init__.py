"""Measuring speed: the load generator and its timing HTTP client, metrics as vllm bench defines them,
vllm bench serve itself, budgets, and the comparison with a previous run."""
