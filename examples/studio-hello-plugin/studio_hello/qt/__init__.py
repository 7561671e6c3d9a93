"""The plugin's panels (Qt): imported only when the studio window creates them."""
