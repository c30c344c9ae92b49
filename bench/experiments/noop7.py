"""Seven addon objects with the suite's hook names and empty bodies: mitmproxy's dispatch cost."""


class Noop:
    def requestheaders(self, flow):
        pass

    def request(self, flow):
        pass

    def responseheaders(self, flow):
        pass

    def response(self, flow):
        pass

    def error(self, flow):
        pass


addons = [Noop() for _ in range(7)]
