"""One addon object with the suite's hook names and empty bodies."""


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


addons = [Noop()]
