// The limit for static decisions (issue 14): node:http alone, reading the same JSON body as the
// service, parsing it with JSON.parse and answering {"result":true}. No policy, no bounds, no
// metrics: what any Node HTTP service pays before it decides anything. Plain JavaScript, run with
// plain node, so no loader is measured. Usage: node bare-server.mjs PORT
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const ANSWER = '{"result":true}\n';
createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let input;
    try {
      input = body === '' ? undefined : JSON.parse(body).input;
    } catch {
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('{"code":"invalid_parameter"}\n');
      return;
    }
    // Touch the parsed input so the parse cannot be optimised away.
    if (input !== undefined && typeof input !== 'object') {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': ANSWER.length }).end(ANSWER);
  });
}).listen(port, '127.0.0.1');
