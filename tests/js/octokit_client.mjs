// Driven by tests/test_api_clients.py: Octokit against the gate (baseUrl, token auth).
// Prints one JSON line with what each call returned, so the Python test asserts on it.
import { Octokit } from "@octokit/rest";

const [baseUrl, token] = process.argv.slice(2);
const octokit = new Octokit({ baseUrl, auth: token, request: { retries: 0 } });
const out = {};
const repo = { owner: "acme", repo: "app" };

const got = await octokit.rest.repos.get(repo);
out.repoUrl = got.data.url;
const issues = await octokit.paginate(octokit.rest.issues.listForRepo, { ...repo, per_page: 2 });
out.issues = issues.map((i) => i.number);
const put = await octokit.rest.repos.createOrUpdateFileContents({
  ...repo,
  path: "src/octo.js",
  message: "octokit write",
  content: Buffer.from("export const x = 1;\n").toString("base64"),
});
out.putStatus = put.status;
out.putCommit = put.data.commit.sha;
try {
  await octokit.rest.repos.delete(repo);
  out.deleteStatus = 200;
} catch (e) {
  out.deleteStatus = e.status;
  out.deleteMessage = e.response?.data?.message;
}
console.log(JSON.stringify(out));
