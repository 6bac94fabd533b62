"""Deploying the grader where courses grade: Gradescope, GitHub Classroom, and a student self-check.

- `hw9-grade bundle gradescope OUT.zip`: an autograder zip (graders.deploy.gradescope);
- `hw9-grade bundle github-classroom DIR`: a workflow for the student's repository (graders.deploy.classroom);
- `hw9-grade bundle student DIR`: the self-check without the hidden checks (graders.deploy.student);
- `hw9-check [PATH]`: the self-check itself (graders.deploy.check).

Every bundle grades with one command, `python -m graders.deploy.grade` (graders.deploy.grade),
which runs the grading plugin on a submission with the settings the bundle recorded
(graders.deploy.bundles).
"""
