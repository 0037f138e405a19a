from twisted.application import internet, service
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Factory, Protocol
from zope.interface import implementer

POEM = open('tests.test_bench/CpuAidTests/test_commands/c36j398r/temp/poem.txt', "rb").read()


@implementer(IHalfCloseableProtocol)
class MinimalLinger(Protocol):
    def connectionMade(self):
        self.transport.write(POEM)
        self.transport.loseWriteConnection()

    def dataReceived(self, data):
        pass

    def readConnectionLost(self):
        self.transport.loseConnection()

    def writeConnectionLost(self):
        pass


factory = Factory.forProtocol(MinimalLinger)
factory.noisy = False
application = service.Application("linger")
server = internet.TCPServer(1234, factory, backlog=1024, interface="127.0.0.1")
server.setServiceParent(application)
