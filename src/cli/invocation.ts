/** How a person runs this CLI here: from a checkout through npm (source), or the installed `batchkeeper`. */
export function cliInvocation(): string {
  return __filename.endsWith('.ts') ? 'npm run batchkeeper --' : 'batchkeeper';
}
