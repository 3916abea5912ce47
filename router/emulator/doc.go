// Package emulator is a stand-in for a model server ("reader"), for tests
// and demos of the router and the autoscaler without GPUs. It is not a
// model: it answers every inference request with a fixed JSON body after a
// service time drawn from a distribution fitted to a slice profile's
// measured mean and p95.
//
// What it emulates, because the router and the controller observe it:
//   - service time: log-normal, fitted to (mean, p95) per slice profile;
//   - a concurrency limit with a bounded FIFO queue (503 past it), as model
//     servers batch a fixed number of requests;
//   - a model-load delay: /readyz answers 503 until the model "loaded";
//   - GPU memory: DCGM_FI_DEV_FB_USED and DCGM_FI_DEV_FB_FREE (MiB) on
//     /metrics with dcgm-exporter's names and labels (gpu, UUID, device,
//     modelName, Hostname, GPU_I_PROFILE, GPU_I_ID, pod, namespace,
//     container); used memory is the model's plus a per-request share
//     (the KV cache) for each request in service;
//   - optional injected failures (a fraction of 500s) for retry tests.
//
// Data flow: request -> queue (bounded) -> one of Concurrency slots ->
// sleep(sample) -> JSON answer. Time and randomness are injected (Options.Now,
// Options.Seed) so tests are deterministic.
package emulator
