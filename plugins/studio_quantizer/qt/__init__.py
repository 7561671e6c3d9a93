"""The quantizer's panel (Qt): imported only when the panel is created."""
