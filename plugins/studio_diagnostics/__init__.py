"""The diagnostics plugin: a self-test job that streams synthetic metrics through the job system."""
