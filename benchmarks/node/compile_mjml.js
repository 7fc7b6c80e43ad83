// The baseline of benchmarks/render_benchmark.py: MJML on stdin, HTML on stdout, one process
// per edition, with the options the in-process compiler is given (no comments, no web fonts).
const mjml2html = require("mjml");

let source = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (source += chunk));
process.stdin.on("end", () => {
  const result = mjml2html(source, { keepComments: false, fonts: {}, validationLevel: "soft" });
  process.stdout.write(result.html);
});
