"""The trainer's panels (Qt; imported only when a panel is opened)."""
