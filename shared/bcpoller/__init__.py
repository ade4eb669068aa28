"""Polling events for BigCommerce: the domain package shipped in the Lambda layer."""
