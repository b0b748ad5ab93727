"""A Pusher executor that publishes versions atomically (the stock one copies in place)."""
