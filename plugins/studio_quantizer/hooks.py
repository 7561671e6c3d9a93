"""The quantizer plugin's contributions: the quantize job, its panel and the CLI command."""

from __future__ import annotations

from studio.api import CliCommand, JobKind, ModelSource, PanelSpec, PluginInfo, WeightReader, hookimpl


@hookimpl
def studio_plugin_info():
    return PluginInfo(
        name="Quantizer",
        version="0.1",
        description="Affine int8 / int4 quantization of studio models: readable reference, "
        "quantized checkpoints, error per layer.",
    )


@hookimpl
def studio_commands():
    return [
        CliCommand(
            "quantize",
            "quantize a checkpoint (int2-int8, per tensor / channel / group) and report",
            "studio_quantizer.cli:configure",
            "studio_quantizer.cli:run",
        )
    ]


@hookimpl
def studio_job_kinds():
    from .config import CompareParams, QuantizeParams, SensitivityParams

    return [
        JobKind(
            "quantizer.quantize",
            "Quantize a checkpoint",
            QuantizeParams,
            "studio_quantizer.jobs:quantize",
            description="int2-int8 weights, per tensor / channel / group; report and optional measurements",
        ),
        JobKind(
            "quantizer.compare",
            "Compare quantization schemes",
            CompareParams,
            "studio_quantizer.jobs:compare",
            description="size, bits per weight, worst SNR and loss change of several schemes",
        ),
        JobKind(
            "quantizer.sensitivity",
            "Quantization sensitivity sweep",
            SensitivityParams,
            "studio_quantizer.jobs:sensitivity",
            description="the loss change of quantizing each layer alone",
        ),
    ]


@hookimpl
def studio_panels():
    return [
        PanelSpec(
            "quantizer:panel", "Quantizer", "studio_quantizer.qt.quantizer_panel:create", area="right", visible=False
        )
    ]


@hookimpl
def studio_weight_readers():
    """Quantized checkpoint folders open wherever a checkpoint does (the trainer's Generate,
    the ``studio/`` model of the prompt engine). Their weights are dequantized on load; to
    generate on the CPU, int8 Linear weights then run on PyTorch's int8 kernel."""
    return [
        WeightReader(
            "quantizer.affine",
            "Quantized checkpoint",
            "quantization.json",
            "studio_quantizer.quantized:read_weights",
            run_stored="studio_quantizer.runtime:run_stored",
        )
    ]


@hookimpl
def studio_model_sources():
    """Quantized folders in the model picker; a quantize run's id or folder names its quantized folder."""
    return [
        ModelSource(
            "quantizer.quantized",
            "Quantized models",
            "studio_quantizer.quantized_models:list_quantized",
            resolve="studio_quantizer.quantized_models:resolve",
        )
    ]
