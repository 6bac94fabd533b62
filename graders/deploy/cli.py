"""`hw9-grade bundle gradescope|github-classroom|student ...`: write what a platform needs to grade.

graders/batch/cli.py hands `hw9-grade bundle ...` to `main(argv)` here (argv without the
word `bundle`). Exit status: 0 when written, 2 when the bundle cannot be made as asked.
"""
import argparse
import sys
from pathlib import Path

from graders.deploy.bundles import BundleError
from graders.judge.jail import Level


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="hw9-grade bundle", description="Write what a platform needs to grade assignment 9 with this grader.")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{gradescope,github-classroom,student}")

    def grading_options(sub):
        sub.add_argument("--rubric", type=Path, help="rubric YAML (default: fixtures/rubric.yaml)")
        sub.add_argument("--grading-seed", type=int, metavar="N", help="seed of the random cases (default: a private one, drawn and recorded)")
        sub.add_argument("--require-sandbox", default="none", choices=[level.label for level in Level], help="refuse to grade below this sandbox (default: none)")

    gradescope = kinds.add_parser("gradescope", help="an autograder zip: setup.sh, run_autograder and the grader")
    gradescope.add_argument("out", type=Path, metavar="OUT.zip")
    grading_options(gradescope)
    gradescope.add_argument("--offline", action="store_true", help="pack the dependencies' wheels into the zip (a container without a registry)")
    gradescope.add_argument("--pip-download-args", default="", metavar="ARGS", help="with --offline: more `pip download` arguments, given with '=': --pip-download-args='--python-version 3.12 --platform manylinux2014_x86_64 --only-binary=:all:'")

    classroom = kinds.add_parser("github-classroom", help="a workflow for the template repository: one test per question")
    classroom.add_argument("out", type=Path, metavar="DIR")
    grading_options(classroom)

    student = kinds.add_parser("student", help="the self-check for students: a wheel and a folder without the hidden checks")
    student.add_argument("out", type=Path, metavar="DIR")
    student.add_argument("--rubric", type=Path, help="rubric YAML whose visibility decides what is withheld (default: fixtures/rubric.yaml)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        if args.kind == "gradescope":
            from graders.deploy import gradescope

            _, lines = gradescope.build(args.out, args.rubric, args.grading_seed, args.require_sandbox, args.offline, args.pip_download_args.split())
        elif args.kind == "github-classroom":
            from graders.deploy import classroom

            _, lines = classroom.build(args.out, args.rubric, args.grading_seed, args.require_sandbox)
        else:
            from graders.deploy import student

            _, lines = student.build(args.out, args.rubric)
    except (BundleError, OSError) as error:
        print(f"hw9-grade bundle: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
