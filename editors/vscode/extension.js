// The calm extension: starts `calm lsp` (setting `calm.server.path`) for `.dl` documents.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function start() {
  const config = vscode.workspace.getConfiguration("calm");
  const command = config.get("server.path", "calm") || "calm";
  const args = ["lsp", ...config.get("server.extraArgs", [])];
  const serverOptions = {
    run: { command, args },
    debug: { command, args },
  };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "calm" },
      { scheme: "untitled", language: "calm" },
    ],
  };
  client = new LanguageClient("calm", "calm language server", serverOptions, clientOptions);
  return client.start().catch((err) => {
    vscode.window.showErrorMessage(
      `calm: could not start \`${command} lsp\` (set calm.server.path): ${err.message || err}`
    );
  });
}

async function activate(context) {
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("calm.server")) {
        if (client) {
          await client.stop();
        }
        await start();
      }
    })
  );
  await start();
}

async function deactivate() {
  if (client) {
    await client.stop();
  }
}

module.exports = { activate, deactivate };
