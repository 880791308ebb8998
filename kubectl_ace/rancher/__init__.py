"""Rancher API client: the HTTP session, login flows, tokens and clusters."""
