"""Workflows: graphs of nodes in a readable, schema-versioned JSON file, run concurrently."""

from .graph import NodeError, Workflow, load_workflow
from .schema import WorkflowError, WorkflowFile

__all__ = ["Workflow", "WorkflowFile", "WorkflowError", "NodeError", "load_workflow"]
