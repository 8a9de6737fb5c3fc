"""Request and response shapes of the native REST API, shared by the API, services and SDK."""
