/**
 * A stand-in etcd member for the gRPC client's tests, run as a child
 * process so that a test can stop it dead (SIGSTOP): it listens on the unix
 * socket its first argument names, answers every stream with one empty
 * message, then sends GOAWAY (no error) on that connection and tells its
 * parent ('goaway'). It says 'ready' once it listens.
 */
import http2 from 'node:http2';

const [path] = process.argv.slice(2);
const server = http2.createServer();
server.on('stream', (stream) => {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
  stream.write(Buffer.alloc(5));
  setTimeout(() => {
    stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
    process.send?.('goaway');
  }, 50);
});
server.listen(path, () => process.send?.('ready'));
