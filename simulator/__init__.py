"""A stand-in for `vllm serve` with Phi-4-multimodal-instruct: standard library only, so it runs anywhere."""
