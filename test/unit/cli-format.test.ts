import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ellipsis,
  goQuote,
  jsonIndent,
  renderList,
  truncateID,
} from '../../src/cli/format/formatter.js';
import { tabwrite } from '../../src/cli/format/table.js';
import { compileTemplate, TemplateError } from '../../src/cli/format/template.js';
import {
  containerStatus,
  goFormatG,
  goTimeFromRFC3339,
  humanDuration,
  humanSize,
} from '../../src/cli/format/units.js';
import { containerRow, displayablePorts } from '../../src/cli/commands/ps.js';
import { DOCKER_PS, sampleContainers } from './cli-fake-daemon.js';
import { imageRows } from '../../src/cli/commands/images.js';
import { naturalLess } from '../../src/cli/commands/inspect.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;

test('durations read like docker', () => {
  assert.equal(humanDuration(500), 'Less than a second');
  assert.equal(humanDuration(1 * S), '1 second');
  assert.equal(humanDuration(3 * S), '3 seconds');
  assert.equal(humanDuration(75 * S), 'About a minute');
  assert.equal(humanDuration(2 * M), '2 minutes');
  assert.equal(humanDuration(H), 'About an hour');
  assert.equal(humanDuration(2 * H + 20 * M), '2 hours');
  assert.equal(humanDuration(3 * 24 * H), '3 days');
  assert.equal(humanDuration(20 * 24 * H), '2 weeks');
  assert.equal(humanDuration(90 * 24 * H), '3 months');
  assert.equal(humanDuration(800 * 24 * H), '2 years');
});

test('container status strings', () => {
  const now = Date.parse('2024-01-01T12:00:00Z');
  assert.equal(
    containerStatus({ Running: true, StartedAt: '2024-01-01T11:58:00Z' }, now),
    'Up 2 minutes',
  );
  assert.equal(
    containerStatus(
      {
        Running: false,
        ExitCode: 0,
        StartedAt: '2024-01-01T11:00:00Z',
        FinishedAt: '2024-01-01T11:59:57Z',
      },
      now,
    ),
    'Exited (0) 3 seconds ago',
  );
  assert.equal(
    containerStatus({ Running: false, StartedAt: '0001-01-01T00:00:00Z' }, now),
    'Created',
  );
  assert.equal(
    containerStatus({ Running: true, Paused: true, StartedAt: '2024-01-01T10:00:00Z' }, now),
    'Up 2 hours (Paused)',
  );
});

test('sizes: base 1000, 3 significant digits, Go %g quirks', () => {
  assert.equal(humanSize(4860000), '4.86MB');
  assert.equal(humanSize(1240), '1.24kB');
  assert.equal(humanSize(0), '0B');
  assert.equal(humanSize(999), '999B');
  assert.equal(humanSize(999600), '1e+03kB');
  assert.equal(humanSize(999600, 4), '999.6kB');
  assert.equal(humanSize(12345), '12.3kB');
  assert.equal(goFormatG(100, 3), '100');
  assert.equal(goFormatG(123456, 3), '1.23e+05');
});

test('Go time strings', () => {
  assert.equal(goTimeFromRFC3339('0001-01-01T00:00:00Z'), '0001-01-01 00:00:00 +0000 UTC');
  if (new Date().getTimezoneOffset() === 0) {
    assert.equal(
      goTimeFromRFC3339('2024-01-02T03:04:05.123456789Z'),
      '2024-01-02 03:04:05.123456789 +0000 UTC',
    );
    assert.equal(goTimeFromRFC3339('2024-01-02T03:04:05.500Z'), '2024-01-02 03:04:05.5 +0000 UTC');
  }
});

test('tabwriter: min width 10, padding 3, last cell unpadded', () => {
  assert.equal(
    tabwrite('NETWORK ID\tNAME\tDRIVER\tSCOPE\n1234567890ab\tbridge\tbridge\tlocal\n'),
    'NETWORK ID     NAME      DRIVER    SCOPE\n1234567890ab   bridge    bridge    local\n',
  );
  // A line with fewer cells ends the column block, as in Go.
  assert.equal(
    tabwrite('a\tb\nccc\nlonger-cell\td\n', { minWidth: 0, padding: 1 }),
    'a b\nccc\nlonger-cell d\n',
  );
  assert.equal(tabwrite('é…\tx\nab\ty\n', { minWidth: 0, padding: 1 }), 'é… x\nab y\n');
});

test('quote, ellipsis, IDs', () => {
  assert.equal(goQuote('echo "hi"\ttab é'), '"echo \\"hi\\"\\ttab é"');
  assert.equal(
    ellipsis("/bin/sh -c 'while true; do sleep 3600; done'", 20),
    "/bin/sh -c 'while t…",
  );
  assert.equal(ellipsis('short', 20), 'short');
  assert.equal(truncateID('sha256:9c301fcfa162aaaa'), '9c301fcfa162');
});

test('Go template subset', () => {
  const data = {
    Name: '/test1',
    State: { Pid: 12345, Running: true, Status: 'running' },
    Args: ['-c', 'x'],
    Config: { Labels: { b: '2', a: '1' }, Env: ['A=1'] },
    NetworkSettings: {
      Networks: {
        bridge: { IPAddress: '172.17.0.2', Aliases: null },
        mynet: { IPAddress: '172.18.0.2', Aliases: null },
      },
      Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }], '443/tcp': null },
    },
  };
  const x = (t: string): string => compileTemplate(t).execute(data);
  assert.equal(x('{{.State.Pid}}'), '12345');
  assert.equal(
    x('{{json .NetworkSettings.Networks}}'),
    '{"bridge":{"IPAddress":"172.17.0.2","Aliases":null},"mynet":{"IPAddress":"172.18.0.2","Aliases":null}}',
  );
  assert.equal(
    x('{{.Config.Labels}} {{.Args}} {{.NetworkSettings.Ports}}'),
    'map[a:1 b:2] [-c x] map[443/tcp:<nil> 80/tcp:[map[HostIp:0.0.0.0 HostPort:8080]]]',
  );
  assert.equal(
    x('{{index .Config.Labels "a"}}|{{index .Config.Labels "zz"}}|{{.Config.Labels.zz}}'),
    '1||<no value>',
  );
  assert.equal(
    x('{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}'),
    'bridge=172.17.0.2 mynet=172.18.0.2 ',
  );
  assert.equal(
    x('{{range .NetworkSettings.Networks}}{{.IPAddress}},{{end}}'),
    '172.17.0.2,172.18.0.2,',
  );
  assert.equal(
    x(
      '{{if .State.Running}}up{{else}}down{{end}} {{if eq .State.Status "exited"}}e{{else if eq .State.Status "running"}}r{{end}}',
    ),
    'up r',
  );
  assert.equal(x('{{with .State}}{{.Pid}}{{end}}{{with .Nope}}x{{else}}none{{end}}'), '12345none');
  assert.equal(
    x('{{join .Args ","}} {{upper .Name}} {{len .Config.Env}} {{.State.Pid | printf "%07d"}}'),
    '-c,x /TEST1 1 0012345',
  );
  assert.equal(x('{{- "a" -}}  {{ "b" }}'), 'ab');
  assert.equal(x('{{$n := .Name}}{{range .Args}}{{$n}}{{.}} {{end}}'), '/test1-c /test1x ');
  assert.equal(
    x('{{(index .Args 1)}} {{print 1 2 "a" "b" 3}} {{json .}}').slice(0, 12),
    'x 1 2ab3 {"N',
  );
  assert.throws(() => compileTemplate('{{.Id'), new TemplateError('template: :1: unclosed action'));
  assert.throws(
    () => compileTemplate('{{.State.Nope}}').execute(data, { strict: true }),
    new TemplateError(
      'template: :1:8: executing "" at <.State.Nope>: map has no entry for key "Nope"',
    ),
  );
});

test('raw JSON re-indent keeps bytes of values', () => {
  assert.equal(
    jsonIndent('[{"a":1,"b":[],"c":{},"d":"x\\u003cy","e":[1,2]}]'),
    '[\n    {\n        "a": 1,\n        "b": [],\n        "c": {},\n        "d": "x\\u003cy",\n        "e": [\n            1,\n            2\n        ]\n    }\n]',
  );
});

test('PORTS column like docker', () => {
  assert.equal(
    displayablePorts([
      { IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
      { IP: '::', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' },
      { PrivatePort: 443, Type: 'tcp' },
      { PrivatePort: 444, Type: 'tcp' },
      { IP: '0.0.0.0', PrivatePort: 53, PublicPort: 53, Type: 'udp' },
    ]),
    '0.0.0.0:53->53/udp, 443-444/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp',
  );
  assert.equal(
    displayablePorts(
      [8000, 8001, 8002].map((p) => ({
        IP: '0.0.0.0',
        PrivatePort: p,
        PublicPort: p,
        Type: 'tcp',
      })),
    ),
    '0.0.0.0:8000-8002->8000-8002/tcp',
  );
});

test('ps table matches docker byte for byte', () => {
  const now = Date.now();
  const rows = sampleContainers(now).map((c) => containerRow(c, true, now));
  const spec = {
    table:
      'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}',
    quiet: '{{.ID}}',
    goType: '*formatter.ContainerContext',
    headers: {
      ID: 'CONTAINER ID',
      Image: 'IMAGE',
      Command: 'COMMAND',
      RunningFor: 'CREATED',
      Status: 'STATUS',
      Ports: 'PORTS',
      Names: 'NAMES',
    },
  };
  assert.equal(renderList(rows, spec, undefined), DOCKER_PS);
  assert.equal(
    renderList(rows.slice(1, 2), spec, 'json'),
    `{"Command":"\\"sh\\"","CreatedAt":${JSON.stringify(String(rows[1]!['CreatedAt']))},"ID":"aa11bb22cc33","Image":"9c301fcfa162","Labels":"","LocalVolumes":"0","Mounts":"","Names":"test2","Networks":"","Platform":null,"Ports":"","RunningFor":"About a minute ago","Size":"0B","State":"exited","Status":"Exited (0) 3 seconds ago"}\n`,
  );
  assert.equal(renderList(rows, spec, '{{.Names}} {{.Label "a"}}'), 'test1 1\ntest2 \nweb \n');
});

test('image rows: one per repo:tag, dangling as <none>', () => {
  const rows = imageRows(
    {
      Id: 'sha256:9c301fcfa162aa',
      RepoTags: ['busybox:latest', 'mybox:v1', 'busybox:1.35'],
      Size: 4860000,
    },
    true,
    false,
  );
  assert.deepEqual(
    rows.map((r) => `${String(r['Repository'])}:${String(r['Tag'])}`),
    ['busybox:latest', 'busybox:1.35', 'mybox:v1'],
  );
  const none = imageRows({ Id: 'sha256:2222', RepoTags: [], Size: 1240 }, true, false);
  assert.equal(none[0]!['Repository'], '<none>');
  assert.equal(none[0]!['Size'], '1.24kB');
});

test('natural sort of network names', () => {
  const names = ['none', 'net10', 'bridge', 'net9', 'host'];
  names.sort((a, b) => (naturalLess(a, b) ? -1 : naturalLess(b, a) ? 1 : 0));
  assert.deepEqual(names, ['bridge', 'host', 'net9', 'net10', 'none']);
});
