"""An example third-party Tensor Studio plugin."""
