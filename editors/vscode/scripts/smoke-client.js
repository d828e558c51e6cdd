// @ts-check
'use strict';
/**
 * Smoke test: talk to a distill-lsp server over stdio the way the extension does
 * (vscode-languageserver-protocol), with the settings package.json contributes.
 *
 *   node scripts/smoke-client.js FILE LINE CHARACTER -- distill-lsp serve
 *
 * initialize (initializationOptions) -> didOpen FILE -> textDocument/inlineCompletion at
 * LINE:CHARACTER (0-based), polled until the server suggests something (it answers empty
 * while its model loads; SMOKE_TIMEOUT_S, default 120) -> textDocument/codeAction ->
 * codeAction/resolve -> shutdown. Prints one JSON report on stdout; a failed code-action
 * request is reported (actionsError, resolveError), not fatal.
 *
 * The settings are package.json's defaults with SMOKE_SETTINGS_JSON (a JSON object) merged
 * over them, e.g. SMOKE_SETTINGS_JSON='{"profile":"greedy","maxNewTokens":16}' for speed.
 */
const cp = require('child_process');
const fs = require('fs');
const path = require('path');
const { pathToFileURL } = require('url');
const rpc = require('vscode-jsonrpc/node');
const { distillSettings, manifestDefaults } = require('../settings');

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {string[]} argv */
function parseArgs(argv) {
  const sep = argv.indexOf('--');
  if (sep < 3 || sep === argv.length - 1) {
    throw new Error('usage: smoke-client.js FILE LINE CHARACTER -- SERVER_COMMAND...');
  }
  const [file, line, character] = argv.slice(0, 3);
  return { file: path.resolve(file), position: { line: Number(line), character: Number(character) },
    command: argv.slice(sep + 1) };
}

async function main() {
  const { file, position, command } = parseArgs(process.argv.slice(2));
  const timeoutMs = Number(process.env.SMOKE_TIMEOUT_S || '120') * 1000;
  const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
  const settings = { ...distillSettings(manifestDefaults(manifest)),
    ...JSON.parse(process.env.SMOKE_SETTINGS_JSON || '{}') };
  const server = cp.spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => server.on('exit', resolve));
  const conn = rpc.createMessageConnection(
    new rpc.StreamMessageReader(server.stdout), new rpc.StreamMessageWriter(server.stdin));
  /** @type {string[]} */
  const messages = [];
  conn.onNotification('window/showMessage', (/** @type {any} */ p) => { messages.push(p.message); });
  conn.onNotification('window/logMessage', () => {});
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.onRequest('workspace/configuration', (/** @type {any} */ p) => p.items.map((/** @type {any} */ i) =>
    (i.section === 'distill' ? settings : null)));
  conn.onNotification('$/progress', () => {});
  /** @type {any[]} */
  const statuses = [];
  conn.onNotification('distill/status', (/** @type {any} */ p) => { statuses.push(p); });
  conn.listen();

  const uri = pathToFileURL(file).href;
  const init = await conn.sendRequest('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(path.dirname(file)).href,
    workspaceFolders: [{ uri: pathToFileURL(path.dirname(file)).href, name: 'smoke' }],
    initializationOptions: settings,
    capabilities: {
      textDocument: {
        inlineCompletion: { dynamicRegistration: false },
        completion: { completionItem: { snippetSupport: false } },
        codeAction: {
          codeActionLiteralSupport: { codeActionKind: { valueSet: ['', 'quickfix', 'refactor', 'refactor.rewrite'] } },
          resolveSupport: { properties: ['edit', 'command'] },
          dataSupport: true,
        },
      },
      workspace: { configuration: true, workspaceFolders: true },
      window: { workDoneProgress: true, showMessage: {} },
    },
  });
  await conn.sendNotification('initialized', {});
  await conn.sendNotification('workspace/didChangeConfiguration', { settings: { distill: settings } });
  await conn.sendNotification('textDocument/didOpen', {
    textDocument: { uri, languageId: 'python', version: 1, text: fs.readFileSync(file, 'utf8') },
  });

  const deadline = Date.now() + timeoutMs;
  /** @type {any[]} */
  let items = [];
  let tries = 0;
  while (items.length === 0) {
    if (Date.now() > deadline) throw new Error('timed out waiting for an inline completion');
    tries += 1;
    /** @type {any} */
    const result = await conn.sendRequest('textDocument/inlineCompletion', {
      textDocument: { uri }, position, context: { triggerKind: 1 },
    });
    items = (Array.isArray(result) ? result : (result?.items ?? []))
      .filter((/** @type {any} */ i) => (typeof i.insertText === 'string' ? i.insertText : i.insertText.value).trim());
    if (items.length === 0) await sleep(500);
  }
  /** @type {any[]} */
  let actions = [];
  /** @type {any} */
  let resolved = null;
  let actionsError = null;
  let resolveError = null;
  try {
    actions = await conn.sendRequest('textDocument/codeAction', {
      textDocument: { uri },
      range: { start: { line: 0, character: 0 }, end: position },
      context: { diagnostics: [], triggerKind: 1 },
    }) ?? [];
  } catch (err) {
    actionsError = String(/** @type {any} */ (err)?.message ?? err);
  }
  const explain = actions.find((a) => a.title === 'Explain this');
  try {
    resolved = explain ? await conn.sendRequest('codeAction/resolve', explain) : null;
  } catch (err) {
    resolveError = String(/** @type {any} */ (err)?.message ?? err);
  }
  await conn.sendRequest('shutdown');
  await conn.sendNotification('exit');
  conn.dispose();
  server.stdin.end();
  const report = {
    serverInfo: /** @type {any} */ (init).serverInfo ?? null,
    capabilities: Object.keys(/** @type {any} */ (init).capabilities).sort(),
    executeCommands: /** @type {any} */ (init).capabilities.executeCommandProvider?.commands ?? [],
    settings, tries, items, statuses, actionTitles: actions.map((a) => a.title), actionsError,
    resolvedTitle: resolved?.title ?? null, resolveError, messages,
  };
  process.stdout.write(JSON.stringify(report) + '\n');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
  server.kill();
}

main().catch((err) => {
  process.stderr.write(`smoke-client: ${err?.stack ?? err}\n`);
  process.exit(1);
});
