/**
 * A stand-in etcd member for the gRPC client's tests, run as a child
 * process so that a test can stop it dead (SIGSTOP): it listens on the unix
 * socket its first argument names, answers every stream with one empty
 * message, then sends GOAWAY (no error) on that connection and tells its
 * parent ('goaway'). It says 'ready' once it listens. With a second
 * argument `huge` it answers instead with a length prefix of 4 GiB − 1 and
 * nothing after it.
 */
import http2 from 'node:http2';

const [path, mode] = process.argv.slice(2);
const server = http2.createServer();
server.on('stream', (stream) => {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
  if (mode === 'huge') {
    stream.write(Buffer.from([0, 0xff, 0xff, 0xff, 0xff]));
    return;
  }
  stream.write(Buffer.alloc(5));
  setTimeout(() => {
    stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
    process.send?.('goaway');
  }, 50);
});
server.listen(path, () => process.send?.('ready'));
