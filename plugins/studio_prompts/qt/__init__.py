"""The prompt engine's panels (Qt). Imported only when a panel is created."""
