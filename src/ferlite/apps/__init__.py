"""Applications composed from runtime parts only: mood monitoring, driver monitoring, the web app, speech cues."""
