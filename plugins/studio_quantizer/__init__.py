"""The quantizer plugin: affine int8 / int4 (and int2 / int3) quantization of studio models,
with a readable reference implementation and a report of what it costs and gains."""
