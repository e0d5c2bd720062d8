"""The panel's Qt views: each renders the controller's state and forwards clicks to it."""
