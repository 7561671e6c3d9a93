"""The Inspector panel's views (tokens, attention, logit lens, attribution, activations,
code, interventions) and the worker that runs inspections off the GUI thread."""
