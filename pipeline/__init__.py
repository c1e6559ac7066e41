"""newsmon: news monitoring pipeline."""
