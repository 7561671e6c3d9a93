"""Built-in diagnostics plugin: self-test jobs that exercise the job system end to end.

``diagnostics.stream`` streams synthetic training-like curves at a chosen rate while
(optionally) keeping a CPU core busy: the quickest way to check that jobs, events, run
folders and the Metrics panel work on a machine, and the load used by the benchmarks.
"""
