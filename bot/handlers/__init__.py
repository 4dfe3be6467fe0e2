"""Chat handlers: parse an update, call one service method, render the reply."""
