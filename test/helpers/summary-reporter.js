// A jest reporter that ends the run with one line CI can read:
//   jest: P passed, F failed, S skipped
// Counts tests, not suites; a suite that failed to run at all (syntax error, failing import)
// has no tests, so each such suite counts as one failure rather than vanishing from the count.
// jest adds its own summary block ("Test Suites: …") after every custom reporter, so the line
// is written when the process exits: last, after everything jest prints.
export default class SummaryReporter {
  line = undefined;

  onRunComplete(_contexts, results) {
    const passed = results.numPassedTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const skipped = results.numPendingTests + results.numTodoTests;
    const first = this.line === undefined;
    this.line = `jest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`;
    // Writes to pipes and files are synchronous on exit, so the line is not lost.
    if (first) process.once('exit', () => process.stdout.write(this.line));
  }
}
