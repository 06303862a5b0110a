"""A stand-in for the Socket Mode client: it keeps what the handler sends back over the WebSocket."""

import logging


class SocketClient:
    """What the Socket Mode handler sends back over the WebSocket."""

    def __init__(self):
        self.sent = []
        self.logger = logging.getLogger("test.socket")

    def send_socket_mode_response(self, response):
        self.sent.append(response.to_dict())
