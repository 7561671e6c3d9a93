"""The prompt-module engine: signatures, predictors, modules, workflows, evaluation, optimizers.

Everything a script needs is importable from here; nothing heavy is imported until used
(litellm loads on the first model call)::

    from studio_prompts import LM, Predict, configure
    configure(lm=LM("openai/gpt-4o-mini"))
    Predict("question -> answer")(question="What is the capital of France?").answer
"""

from .data import Example, Prediction, load_dataset
from .lm import LM, Budget, BudgetExceeded, Completion, LMError
from .module import Module
from .predict import ChainOfThought, ParseError, Predict
from .react import ReAct
from .refine import BestOfN, Refine
from .settings import configure, context, settings
from .signature import Field, InputField, OutputField, Signature, SignatureError, SignatureSpec, as_signature
from .trace import Collector, Tracer

__all__ = [
    "Example",
    "Prediction",
    "load_dataset",
    "LM",
    "Budget",
    "BudgetExceeded",
    "Completion",
    "LMError",
    "Module",
    "ChainOfThought",
    "ParseError",
    "Predict",
    "ReAct",
    "BestOfN",
    "Refine",
    "configure",
    "context",
    "settings",
    "Field",
    "InputField",
    "OutputField",
    "Signature",
    "SignatureError",
    "SignatureSpec",
    "as_signature",
    "Collector",
    "Tracer",
]
