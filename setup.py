"""The one thing pyproject.toml cannot say: the optional C extension ``pipeline._fast``.

It is the runner's fast path compiled from ``pipeline/_fast.pyx`` (Cython). It is optional:
where no C compiler is found the build goes on without it, and the pipeline uses the Python
function ``pipeline._stages._admit_plain``, which decides exactly the same, more slowly.
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # built without the build requirements (--no-build-isolation)
    extensions = []
else:
    extensions = cythonize(
        [Extension("pipeline._fast", ["pipeline/_fast.pyx"])],
        compiler_directives={"language_level": 3},
    )
    for extension in extensions:  # (cythonize makes new ones: mark them, not the template)
        extension.optional = True  # no compiler: warn and build the wheel without it

setup(ext_modules=extensions)
