// Runs the Warden CLI from source (tests spawn it as a real process).
const { main } = await import('../../../src/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
