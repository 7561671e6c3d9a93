"""Hello: the example Tensor Studio plugin (a job kind and its panel, a workflow node, an attention type)."""
