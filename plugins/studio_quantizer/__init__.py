"""The quantizer plugin: int2-int8 affine quantization of studio models, with a report of what it costs and gains."""
