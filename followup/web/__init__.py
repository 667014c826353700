"""The desks' web pages (`followup serve`): a face like the commands, on the same use cases."""
