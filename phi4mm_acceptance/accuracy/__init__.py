"""Judging answers: AISBench, the built-in canary, scoring as the benchmarks score, the gates on a score, and
which LoRA adapter a poorly answering deployment likely lacks."""
